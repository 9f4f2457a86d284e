"""Teaches mypyc the f-strings it leaves generic: those with a format spec or a conversion.

mypy hands an f-string to mypyc as ``"".join([..., "{:{}}".format(x, ".2f"), ...])``
(``"{!r:{}}"`` for ``{x!r}``). mypyc builds the join directly only when every
piece has an empty spec and no conversion; one ``{price:.2f}`` makes the whole
f-string a generic ``str.format`` method call per piece, slower compiled than
the interpreter's own f-string (1.8x on perf/realistic.py's order lines).

``install()`` registers, ahead of mypyc's own, a specializer for the same
``"".join`` shape that also takes a constant spec and the ``!r``/``!s``
conversions: each piece is ``PyObject_Format(value, spec)`` after
``PyObject_Repr``/``PyObject_Str``, which is exactly what CPython's
``FORMAT_VALUE`` does, so the text is the same in both modes. Anything else
(a nested spec such as ``{x:{width}}``, ``!a``) is left to mypyc.
"""

from __future__ import annotations

from typing import Any

__all__ = ["install", "installed"]

_installed = False


def installed() -> bool:
    """Whether ``install()`` took: the build notes slow f-strings only when it did not."""
    return _installed


def install() -> bool:
    """Register the specializer with this process's mypyc (once); False when this mypyc's internals differ from
    those it was written against, and mypyc's own handling stays."""
    global _installed
    if _installed:
        return True
    try:
        from mypy.nodes import ARG_POS, CallExpr, ListExpr, MemberExpr, StrExpr
        from mypyc.ir.ops import ERR_MAGIC, Integer
        from mypyc.ir.rtypes import c_pyssize_t_rprimitive, object_rprimitive, str_rprimitive
        from mypyc.irbuild import specialize
        from mypyc.irbuild.format_str_tokenizer import FormatOp, convert_format_expr_to_str
        from mypyc.primitives.registry import custom_op
        from mypyc.primitives.str_ops import str_build_op
    except ImportError:
        return False

    format_op = custom_op([object_rprimitive, str_rprimitive], str_rprimitive, "PyObject_Format", ERR_MAGIC)
    repr_op = custom_op([object_rprimitive], str_rprimitive, "PyObject_Repr", ERR_MAGIC)
    str_op = custom_op([object_rprimitive], str_rprimitive, "PyObject_Str", ERR_MAGIC)
    conversions = {"{:{}}": None, "{!r:{}}": repr_op, "{!s:{}}": str_op}

    def piece(item: Any) -> tuple[Any, str, str] | None:
        """(the value, its spec, the template) of one ``"{...:{}}".format(value, spec)`` piece, or None for another
        shape."""
        if not (isinstance(item, CallExpr) and isinstance(item.callee, MemberExpr) and item.callee.name == "format"
                and isinstance(item.callee.expr, StrExpr) and item.callee.expr.value in conversions
                and item.arg_kinds == [ARG_POS, ARG_POS] and isinstance(item.args[1], StrExpr)):
            return None
        return item.args[0], item.args[1].value, item.callee.expr.value

    def fstring(builder: Any, expr: Any, callee: Any) -> Any:
        if not (isinstance(callee, MemberExpr) and isinstance(callee.expr, StrExpr) and callee.expr.value == ""
                and expr.arg_kinds == [ARG_POS] and isinstance(expr.args[0], ListExpr)):
            return None
        # Each item: a literal's text, or (value, spec, template).
        shapes: list[str | tuple[Any, str, str]] = []
        for item in expr.args[0].items:
            shape = item.value if isinstance(item, StrExpr) else piece(item)
            if shape is None:
                return None  # a shape this does not know (a nested spec, !a): mypyc's own handling
            shapes.append(shape)
        if all(isinstance(s, str) or s[1:] == ("", "{:{}}") for s in shapes):
            return None  # no spec and no conversion: mypyc's own specializer builds it as well
        line = expr.line
        parts: list[Any] = []
        for shape in shapes:
            if isinstance(shape, str):
                if shape:
                    parts.append(builder.load_str(shape))
                continue
            value, spec, template = shape
            convert = conversions[template]
            if convert is None and spec == "":
                # mypyc's own conversion (direct for str and int); it never declines a STR op once items are emitted.
                parts.extend(convert_format_expr_to_str(builder, [FormatOp.STR], [value], line) or [])
                continue
            boxed = builder.coerce(builder.accept(value), object_rprimitive, line)
            text = boxed if convert is None else builder.call_c(convert, [boxed], line)
            parts.append(text if spec == "" else builder.call_c(format_op, [text, builder.load_str(spec)], line))
        if not parts:
            return builder.load_str("")
        if len(parts) == 1:
            return parts[0]
        return builder.call_c(str_build_op, [Integer(len(parts), c_pyssize_t_rprimitive), *parts], line)

    try:
        key = ("join", str_rprimitive)
        specialize.specializers.setdefault(key, []).insert(0, fstring)
    except AttributeError:
        return False
    _installed = True
    return True
