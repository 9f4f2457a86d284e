-- wrk script: 16 requests for the URL's own path pipelined per round trip.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, nil) end
  req = table.concat(r)
end
request = function() return req end
