/* covet._native.WSParser and the WebSocket helpers: the CPython face of the frame core (ws_frame.c). */
#ifndef COVET_WS_BINDING_H
#define COVET_WS_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* The first item of each event WSParser.feed() returns (covet/runtime/ws_events.py names them). */
enum covet_ws_kind {
    COVET_WS_TEXT = 0,
    COVET_WS_BINARY = 1,
    COVET_WS_PING = 2,
    COVET_WS_PONG = 3,
    COVET_WS_CLOSE = 4,
    COVET_WS_ERROR = 5,
    COVET_WS_TEXT_COMPRESSED = 6,
    COVET_WS_BINARY_COMPRESSED = 7
};

extern PyTypeObject covet_WSParserType;

/* WSParser.feed() on len bytes at data, for C callers (the io_uring core feeds a switched connection's input from
 * its read buffer, with no bytes object in between): the list of events, or NULL with an exception set (a parser
 * that failed building them takes no more input). */
PyObject *covet_ws_feed(PyObject *parser, const uint8_t *data, size_t len);

/* Readies the type; 0, or -1 with an exception set. */
int covet_ws_ready(void);
/* Adds the event kinds (WS_TEXT ...) and opcodes (WS_OP_CONT ...) to the module; 0, or -1 with an exception. */
int covet_ws_add_constants(PyObject *m);

/* ws_frame(opcode, payload, fin=True, rsv1=False) -> bytes */
PyObject *covet_ws_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
extern const char covet_ws_frame_doc[];
/* utf8_valid(data, /) -> bool */
PyObject *covet_utf8_valid(PyObject *module, PyObject *data);
extern const char covet_utf8_valid_doc[];

#endif
