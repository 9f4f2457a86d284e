wrk.method = "POST"
wrk.body = '{"name":"pen","price":1.5,"tags":["office","blue"]}'
wrk.headers["Content-Type"] = "application/json"
