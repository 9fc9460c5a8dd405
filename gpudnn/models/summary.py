"""The text of ``model.summary()``, laid out like Keras 3's table."""

COLUMNS = (("Layer (type)", 31, "<"), ("Output Shape", 22, "<"), ("Param #", 13, ">"))


def _rule(left, fill, middle, right):
    return left + middle.join(fill * (width + 2) for _, width, _ in COLUMNS) + right


def _row(cells, edge):
    """One table row; a cell wider than its column wraps at a space, as Keras's table does
    ("batch_normalization" over "(BatchNormalization)")."""
    wrapped = [_wrap(cell, width) for cell, (_, width, _) in zip(cells, COLUMNS)]
    lines = []
    for k in range(max(map(len, wrapped))):
        parts = [f" {(cell[k] if k < len(cell) else ''):{align}{width}} "
                 for cell, (_, width, align) in zip(wrapped, COLUMNS)]
        lines.append(edge + edge.join(parts) + edge)
    return "\n".join(lines)


def _wrap(text, width):
    words, lines = text.split(" "), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return lines


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


def summary_text(model):
    lines = [f'Model: "{model.name}"',
             _rule("┏", "━", "┳", "┓"),
             _row([title for title, _, _ in COLUMNS], "┃"),
             _rule("┡", "━", "╇", "┩")]
    for i, layer in enumerate(model.layers):
        if i:
            lines.append(_rule("├", "─", "┼", "┤"))
        shape = getattr(layer, "shape", (None, layer.units))  # an InputLayer has its own
        lines.append(_row([_layer_cell(layer), str(shape),
                           f"{layer.count_params():,}"], "│"))
    lines.append(_rule("└", "─", "┴", "┘"))
    total = model.count_params()
    trainable = sum(view.size for (_, _, view), on in zip(model._views(), model._view_trainable())
                    if on)
    itemsize = model.dtype.itemsize
    lines += [f" Total params: {total:,} ({_bytes(total * itemsize)})",
              f" Trainable params: {trainable:,} ({_bytes(trainable * itemsize)})",
              f" Non-trainable params: {total - trainable:,} "
              f"({_bytes((total - trainable) * itemsize)})"]
    return "\n".join(lines)
