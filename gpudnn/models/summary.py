"""The text of ``model.summary()``, laid out like Keras 3's table, with Keras's options:
``line_length`` (the table's width), ``show_trainable`` (a "Trainable" column: Y, N, or - for
a layer without weights), ``layer_range`` (the rows from the first layer named
``layer_range[0]`` to the last named ``layer_range[1]``) and ``expand_nested`` (a nested model's
layers under it, each marked "└ ")."""

import numpy as np

from ..errors import InvalidInputError
from .nesting import Nestable

COLUMNS = (("Layer (type)", 31, "<"), ("Output Shape", 22, "<"), ("Param #", 13, ">"))
#: the default table's width, its columns with their padding and borders
DEFAULT_LINE_LENGTH = sum(width + 3 for _, width, _ in COLUMNS) + 1
TRAINABLE = ("Trainable", 9, "^")


def columns(line_length=None, show_trainable=False):
    """The table's ``(title, width, align)`` columns for a table ``line_length`` wide."""
    cols = COLUMNS + ((TRAINABLE,) if show_trainable else ())
    if line_length is None:
        return cols
    minimum = [8] + [len(title) for title, _, _ in cols[1:]]  # the narrowest readable table
    least = sum(w + 3 for w in minimum) + 1
    if isinstance(line_length, bool) or not isinstance(line_length, int) or \
            line_length < least:
        raise InvalidInputError(f"summary line_length must be an int >= {least} (for these "
                                f"columns), not {line_length!r}")
    natural = sum(width + 3 for _, width, _ in cols) + 1
    scale = line_length / natural
    widths = [max(low, int(width * scale)) for low, (_, width, _) in zip(minimum, cols)]
    widths[0] += line_length - (sum(w + 3 for w in widths) + 1)  # the rest to the first
    if widths[0] < minimum[0]:  # the others took too much: narrow the widest of them
        for _ in range(minimum[0] - widths[0]):
            j = max(range(1, len(widths)), key=lambda i: widths[i] - minimum[i])
            widths[j] -= 1
            widths[0] += 1
    return tuple((title, width, align) for (title, _, align), width in zip(cols, widths))


def _rule(cols, left, fill, middle, right):
    return left + middle.join(fill * (width + 2) for _, width, _ in cols) + right


def _row(cols, cells, edge):
    """One table row; a cell wider than its column wraps at a space, as Keras's table does
    ("batch_normalization" over "(BatchNormalization)")."""
    wrapped = [_wrap(cell, width) for cell, (_, width, _) in zip(cells, cols)]
    lines = []
    for k in range(max(map(len, wrapped))):
        parts = [f" {(cell[k] if k < len(cell) else ''):{align}{width}} "
                 for cell, (_, width, align) in zip(wrapped, cols)]
        lines.append(edge + edge.join(parts) + edge)
    return "\n".join(lines)


def _wrap(text, width):
    width = max(width, 1)
    words, lines = text.split(" "), [""]
    for word in words:
        while len(word) > width:  # a word longer than the column is cut, as rich folds it
            if lines[-1]:
                lines.append("")
            lines[-1], word = word[:width], word[width:]
            lines.append("")
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return [line for line in lines if line] or [""]


def _bytes(count):
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _layer_cell(layer):
    """``dense (Dense)``, with the dtype policy when it is not float32:
    ``dense (Dense, mixed_bfloat16)``."""
    policy = getattr(layer, "dtype_policy", None)
    shown = f", {policy.name}" if policy is not None and policy.name != "float32" else ""
    return f"{layer.name} ({type(layer).__name__}{shown})"


def _optimizer_params(model):
    """Keras's "Optimizer params", ``(count, bytes)``, once the optimizer has taken a step
    (Keras builds it at its first update), else None: its slots (one value per trained weight:
    moments, EMA, accumulators), the step counter (4 bytes: int32, as Keras on JAX makes it;
    TensorFlow's is int64), the learning rate when it is a number, Nadam's running product, a
    LossScaleOptimizer's scale and counter."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "step_count", 0):
        return None
    inner = getattr(optimizer, "_inner", None)
    base = optimizer if inner is None else inner
    values = sum(int(array.size) for array in (base.slots or {}).values())
    count, size = values + 1, values * model.dtype.itemsize + 4
    scalars = (base.schedule is None) + base.scalar_variables + (0 if inner is None else 2)
    return count + scalars, size + 4 * scalars


def _layer_count(layer):
    """The parameters a layer has now, or None when it is not built (its shapes unknown): an
    adapted Normalization, which knows its width, counts as Keras's (built by adapt)."""
    if getattr(layer, "built", True) is False:
        views = getattr(layer, "parameter_views", lambda: [])()
        if views and all(view is not None for view in views):
            return sum(int(view.size) for view in views)
        if getattr(layer, "input_dim", None) is None or isinstance(layer, Nestable):
            return None
        return sum(int(np.prod(shape)) for _, shape, *_ in layer.param_specs())
    return layer.count_params()


def _rows(layers, expand_nested, depth=0):
    """``(layer, indent)`` of each row: the layers, and with ``expand_nested`` each nested
    model's layers after it, one level deeper."""
    for layer in layers:
        yield layer, depth
        inner = getattr(layer, "layers", None)
        if expand_nested and inner:
            yield from _rows(inner, expand_nested, depth + 1)


def _in_range(layers, layer_range):
    """The layers from the first named ``layer_range[0]`` to the last named
    ``layer_range[1]`` (Keras's ``layer_range``)."""
    if layer_range is None:
        return list(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 or \
            not all(isinstance(name, str) for name in layer_range):
        raise InvalidInputError(f"summary layer_range must be two layer names, not "
                                f"{layer_range!r}")
    names = [layer.name for layer in layers]
    first, last = layer_range
    if first not in names or last not in names:
        raise InvalidInputError(f"summary layer_range {list(layer_range)}: the model's layers "
                                f"are {names}")
    start, stop = names.index(first), len(names) - names[::-1].index(last)
    if start >= stop:
        raise InvalidInputError(f"summary layer_range {list(layer_range)}: {first!r} comes "
                                f"after {last!r}")
    return list(layers)[start:stop]


def summary_text(model, line_length=None, show_trainable=False, layer_range=None,
                 expand_nested=False):
    cols = columns(line_length, show_trainable)
    lines = [f'Model: "{model.name}"',
             _rule(cols, "┏", "━", "┳", "┓"),
             _row(cols, [title for title, _, _ in cols], "┃"),
             _rule(cols, "┡", "━", "╇", "┩")]
    rows = list(_rows(_in_range(model.layers, layer_range), expand_nested))
    shapes = model._output_shapes() if model.built else {}
    for i, (layer, depth) in enumerate(rows):
        if i:
            lines.append(_rule(cols, "├", "─", "┼", "┤"))
        count = _layer_count(layer)
        if model.built or getattr(layer, "built", False) and count is not None:
            # the graph's shape; an InputLayer has its own; a nested model's inner layers flat
            shape = str(shapes.get(id(layer), getattr(layer, "shape", (None, layer.units))))
        else:
            shape = "?"  # Keras's unbuilt row
        params = "0 (unbuilt)" if count is None else f"{count:,}"
        cells = ["└ " * depth + _layer_cell(layer), shape, params]
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if count else "-")
        lines.append(_row(cols, cells, "│"))
    lines.append(_rule(cols, "└", "─", "┴", "┘"))
    if model.built:
        total = model.count_params()
        trainable = sum(view.size for (_, _, view), on
                        in zip(model._views(), model._view_trainable()) if on)
    else:  # the weights layers have already (an adapted Normalization), as Keras counts them
        counted = [layer for layer in model.layers if _layer_count(layer) is not None]
        total = sum(_layer_count(layer) for layer in counted)
        trainable = sum(int(np.prod(shape)) for layer in counted if layer.trainable
                        for name, shape, *_ in getattr(layer, "param_specs", lambda: [])()
                        if layer.weight_trainable(name))
    itemsize = model.dtype.itemsize
    optimizer = _optimizer_params(model) if model.built else None
    extra, extra_bytes = optimizer or (0, 0)
    lines += [f" Total params: {total + extra:,} ({_bytes(total * itemsize + extra_bytes)})",
              f" Trainable params: {trainable:,} ({_bytes(trainable * itemsize)})",
              f" Non-trainable params: {total - trainable:,} "
              f"({_bytes((total - trainable) * itemsize)})"]
    if optimizer is not None:
        lines.append(f" Optimizer params: {extra:,} ({_bytes(extra_bytes)})")
    return "\n".join(lines)
