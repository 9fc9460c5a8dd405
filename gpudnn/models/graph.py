"""A built Sequential's symbolic graph, as Keras 3 makes one: its ``input`` / ``inputs`` and
``output`` / ``outputs`` KerasTensors, and each layer's ``input`` and ``output``, so that the
feature-extraction pattern works on a Sequential too::

    features = gpudnn.Model(inputs=model.inputs, outputs=model.layers[-2].output)

The graph is traced when the model builds, and again when asked for after a change (each
layer called on the KerasTensor of the one before, from an Input of the model's sample shape):
no weight moves. A model built from those
tensors shares the layers: their weights move to its buffer (see nesting.py), so train the
first model before making the second.
"""

from ..errors import GpudnnError, InvalidInputError
from ..layers.input_layer import InputLayer


class SymbolicGraph:
    """Mixin of ``Sequential``: the graph of its chain (a Functional has its own tensors)."""

    def _trace_graph(self):
        """Trace the graph when the model builds, so that ``layer.output`` is there at once;
        a chain the symbolic calls refuse keeps no graph (its tensors then say why)."""
        try:
            self._traced()
        except (GpudnnError, TypeError, ValueError):
            self.__dict__.pop("_graph", None)

    def _traced(self):
        """``(input, output)`` KerasTensors of the model's chain, traced for its current
        layers and sample shape."""
        if not self.built:
            raise InvalidInputError(
                f"model {self.name!r} has no input tensor yet: give its first layer "
                f"input_shape=... (or start it with gpudnn.Input), or call fit / build first")
        key = (self.sample_shape, tuple(map(id, self._layers)))
        graph = self.__dict__.get("_graph")
        if graph is None or graph[0] != key:
            source = x = (self._input or InputLayer(self.sample_shape)).output
            for layer in self._layers:
                x = layer(x)
            graph = self._graph = (key, source, x)
        return graph[1], graph[2]

    def _output_shapes(self):
        """``{id(layer): Keras's output shape}`` along the model's graph (``(None, 28, 28)``
        for a Rescaling before Flatten), empty when it has none."""
        try:
            tensor = self.output
        except GpudnnError:
            return {}
        shapes = {}
        while tensor is not None and tensor._parent is not None:
            shapes[id(tensor._layer)] = tensor.shape
            tensor = tensor._parent
        return shapes

    input = property(lambda self: self._traced()[0],
                     doc="The model's input KerasTensor (Keras's ``model.input``).")
    output = property(lambda self: self._traced()[1],
                      doc="The model's output KerasTensor (Keras's ``model.output``).")
    inputs = property(lambda self: [self._traced()[0]], doc="``[model.input]``.")
    outputs = property(lambda self: [self._traced()[1]], doc="``[model.output]``.")
