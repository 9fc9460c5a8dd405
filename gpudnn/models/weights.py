"""The model's weights as host arrays and as Variables, and its layers by name or index: the
Keras surface over the flat buffers that models/structure.py builds (``get_weights``,
``set_weights``, ``weights``, ``trainable_weights``, ``non_trainable_weights``, ``get_layer``)."""

import numpy as np

from ..errors import InvalidInputError
from ..utils import inputs
from ..variables import Variable


class ModelWeights:
    """Mixin of ``Sequential``: its weights and layers as Keras hands them out. Reads the
    structure's ``_views``, ``_weight_table``, ``layers`` and ``_require_built``."""

    def _variables(self, which):
        """The weights as :class:`gpudnn.Variable` s sharing the model's memory, in
        get_weights order: all of them (``which`` None), or the trainable (True) or
        non-trainable (False) ones as the layers' flags say now."""
        self._require_built("weights")
        return [Variable.view_of(self.backend, view, name, self, start, stop)
                for (_, _, view), ((start, stop), name, on) in
                zip(self._views(), self._weight_table()) if which is None or on == which]

    @property
    def trainable_weights(self):
        """The weights that train, as Variables in get_weights order
        (``optimizer.apply_gradients(zip(grads, model.trainable_weights))``)."""
        return self._variables(True)

    @property
    def non_trainable_weights(self):
        """The frozen weights (and BatchNormalization's moving statistics), as Variables."""
        return self._variables(False)

    #: Keras 3's names for the same lists of Variables
    variables = property(lambda self: self.weights)
    trainable_variables = property(lambda self: self.trainable_weights)
    non_trainable_variables = property(lambda self: self.non_trainable_weights)

    def get_layer(self, name=None, index=None):
        """A layer of ``model.layers`` by ``name`` or by ``index`` (exactly one of them)."""
        if (name is None) == (index is None):
            raise InvalidInputError("get_layer takes a layer name or an index, exactly one")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                    not -len(self.layers) <= index < len(self.layers):
                raise InvalidInputError(
                    f"get_layer index {index!r} is out of range: the model has "
                    f"{len(self.layers)} layers (index 0..{len(self.layers) - 1})")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InvalidInputError(f"no layer named {name!r}; the model's layers are "
                                f"{[layer.name for layer in self.layers]}")

    @property
    def weights(self):
        """All weights of the model as Variables, in get_weights order (layer by layer)."""
        return self._variables(None)

    def _views(self):
        return [(layer, name, view) for layer in self._leaf_layers
                for (name, *_), view in zip(layer.param_specs(), layer.parameter_views())]

    def get_weights(self):
        """Host copies of every parameter, in layer order: [kernel, bias, kernel, bias, ...]."""
        self._require_built("get_weights")
        return [self.backend.to_host(view) for _, _, view in self._views()]

    def set_weights(self, weights):
        """Copy host arrays (same order and shapes as get_weights) into the model."""
        self._require_built("set_weights")
        views = self._views()
        weights = list(weights)
        if len(weights) != len(views):
            raise InvalidInputError(
                f"set_weights got {len(weights)} arrays but the model has {len(views)} "
                f"parameters ({', '.join(f'{l.name}/{n}' for l, n, _ in views)})")
        arrays = inputs.weight_arrays([(f"{layer.name}/{name}", view) for layer, name, view in views],
                                      weights, "; the weights come from a different architecture")
        for (_, _, view), w in zip(views, arrays):
            self.backend.copy_into(view, w)
