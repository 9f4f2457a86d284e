/* covet._native.RingServer: HTTP/1.1 connections on io_uring (see ringserver.c). Linux only. */
#ifndef COVET_RINGSERVER_H
#define COVET_RINGSERVER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject covet_RingServerType;

#endif
