"""The Layer protocol every gpudnn layer follows.

A layer maps a batch ``x`` of shape (n, input_dim) to ``y`` of shape (n, units). The model owns
all memory: parameters and their gradients are views into its flat buffers (``bind``), and the
output / gradient buffers of each batch size are preallocated by the model and passed in.
"""

import numpy as np

from .. import config, dtype_policies
from ..errors import InvalidInputError
from ..utils.inputs import flag, weight_arrays
from ..utils.naming import auto_name
from ..utils.watched import Watched
from ..variables import Variable
from . import eager, symbolic



class Trainable:
    """``trainable``: whether ``fit`` updates the weights. As in Keras, a change takes effect at
    the next ``compile`` (the compiled step keeps the set of weights it trains); a frozen
    layer's weights get no gradient work and no optimizer state, and stay bit-identical."""

    @property
    def trainable(self):
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value):
        self._trainable = flag(value, f"{self.name!r}: trainable")


class Layer(Trainable, Watched):
    """Base class. Subclasses set ``units`` in ``build`` and implement forward/backward."""

    #: The activation applied last by this layer, as an activations.Spec (None for none).
    activation_spec = None
    #: True for a layer whose input_shape may have any rank (Flatten, Dropout); others take
    #: ``(features,)``.
    accepts_any_rank = False
    #: True for a layer that draws random numbers while training (Dropout): the model passes
    #: its device step counter to forward and backward as ``step=``.
    stochastic = False
    #: True for a layer whose forward pass differs in training and inference
    #: (BatchNormalization): the model passes ``training=`` to forward.
    mode_dependent = False
    #: its training passes can also compute an Activation layer that follows it
    #: (BatchNormalization: the step then runs the two layers as one)
    fuses_following_activation = False
    #: True for a layer that computes in 16 bits under a mixed policy (Dense, the activations);
    #: any other layer computes in float32 whatever its policy (BatchNormalization's statistics,
    #: as Keras's does internally; Dropout and the noise layers, whose 16-bit kernel forms are
    #: built but not used yet), its 16-bit input widened by the model.
    computes_in_half = False

    def __init__(self, name=None, input_shape=None, dtype=None):
        self.name = name or auto_name(type(self).__name__)
        #: Keras's ``dtype=``: a policy name or DTypePolicy; None takes the global policy now
        self._dtype_policy = config.dtype_policy() if dtype is None else dtype_policies.get(dtype)
        #: False when the policy came from the global one: a float32 / float64 policy then
        #: follows the dtype of the model the layer is built into (Sequential(dtype=...))
        self._dtype_given = dtype is not None
        #: the 16-bit copies of the weights the layer computes on, by name (bind_compute)
        self._compute_views = {}
        if self.accepts_any_rank:
            self.input_shape = _input_shape(input_shape, self.name)
            self.input_dim = None if self.input_shape is None else _size(self.input_shape)
        else:
            self.input_dim = _input_dim(input_shape, self.name)
            self.input_shape = None if self.input_dim is None else (self.input_dim,)
        self.units = None
        self.built = False
        self._backend = None  # set by the model that binds the layer's parameters

    # ------------------------------------------------------------------ dtype policy
    @property
    def dtype_policy(self):
        """The layer's DTypePolicy (Keras 3's ``layer.dtype_policy``)."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        self._dtype_policy = dtype_policies.get(value)
        self._dtype_given = True

    @property
    def dtype(self):
        """The dtype of the layer's variables (Keras's ``layer.dtype``), a name."""
        return self._dtype_policy.variable_dtype

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        """The dtype the layer computes in, a name (``"bfloat16"`` under mixed_bfloat16)."""
        return self._dtype_policy.compute_dtype

    def half_dtype(self):
        """The 16-bit dtype the layer computes and stores its output in, or None (it runs in
        its variables' dtype)."""
        return self.compute_dtype if self.computes_in_half and self._dtype_policy.is_mixed \
            else None

    def bind_compute(self, views):
        """Receive the 16-bit copies of the layer's weights (views into the model's flat
        compute buffer, in param_specs order) that its forward and backward GEMMs read."""
        self._compute_views = {name: view for (name, *_), view in zip(self.param_specs(), views)}

    def operand(self, name):
        """The weight ``name`` as the layer computes with it: its 16-bit copy under a mixed
        policy, else the variable itself."""
        view = self._compute_views.get(name)
        return getattr(self, name) if view is None else view

    #: True for Flatten: the one layer that takes samples of any rank and makes them flat
    flattens_input = False
    #: True for a layer whose every output element is a function of the same input element
    #: alone (Rescaling by a scalar, an element-wise Activation, the noise layers): it may come
    #: before Flatten, on samples of any shape, which the model has flattened already
    elementwise = False

    def __call__(self, inputs, training=None):
        """Keras's functional API: the layer called on a KerasTensor (``gpudnn.Input(...)`` or
        another layer's output) gives the KerasTensor of its output (layers/symbolic.py);
        ``training=False`` keeps it in inference mode in the model built from that tensor.
        Called on an array of samples, it computes its output (layers/eager.py)."""
        if not symbolic.is_symbolic(inputs):
            return eager.call(self, inputs, training)
        return symbolic.call(self, inputs, training,
                             lambda shape: symbolic.dense_output_shape(self, shape))

    @property
    def input(self):
        """The KerasTensor the layer was last called on (Keras's ``layer.input``)."""
        return symbolic.last_call(self, "input")

    @property
    def output(self):
        """The KerasTensor of the layer's last call (Keras's ``layer.output``): with
        ``model.input``, a model of the layers up to here,
        ``Model(model.input, model.layers[-2].output)``."""
        return symbolic.last_call(self, "output")

    def declared_width(self):
        """How the layer's input width was fixed, and the fix when it does not fit (for
        errors): its ``input_shape`` by default."""
        return (f"declares input_shape=({self.input_dim},)", "drop input_shape from it")

    def identity_in(self, training):
        """True when the layer passes its input through unchanged (training or inference): the
        model then gives it no buffer and makes no call, its output is its input."""
        return False

    def build(self, input_dim):
        """Fix the input width; set ``self.units`` (the output width)."""
        self.input_dim = input_dim
        self.units = input_dim
        self.built = True

    def param_specs(self):
        """``[(name, shape, initializer)]`` of the layer's weights, in order (the initializer
        as ``gpudnn.initializers.check`` keeps it)."""
        return []

    def weight_trainable(self, name):
        """Whether the weight ``name`` trains while the layer does (BatchNormalization's moving
        statistics do not: they are updated by the forward pass, not by the optimizer)."""
        return True

    def bind(self, params, grads):
        """Receive views (one per param spec, same order) into the model's flat buffers."""

    def parameter_views(self):
        """The bound parameter views (``self.kernel``, ``self.bias``...), in param_specs order."""
        return [getattr(self, name) for name, *_ in self.param_specs()]

    def gradient_views(self):
        """The bound gradient views (``self.kernel_grad``...), in param_specs order."""
        return [getattr(self, f"{name}_grad") for name, *_ in self.param_specs()]

    def forward(self, backend, x, out):
        """``out = layer(x)``; x (n, input_dim), out (n, units)."""
        raise NotImplementedError

    def backward(self, backend, x, y, dy, dx, skip_activation=False):
        """Back-propagate ``dy = dL/dy`` (n, units), which may be overwritten.

        Writes parameter gradients into the bound gradient views and, when ``dx`` is not None,
        ``dx = dL/dx`` (n, input_dim). ``skip_activation``: ``dy`` already is the gradient with
        respect to the pre-activation (the model fused softmax/sigmoid into the loss gradient).
        """
        raise NotImplementedError

    def get_config(self):
        """The constructor's keyword arguments as JSON-able values: ``type(self)(**config)``
        makes an equal, unbuilt layer. Subclasses add their own arguments to this dict. A frozen
        layer's config also says ``"trainable": False`` (read by ``layers.deserialize``)."""
        config = {"name": self.name, "dtype": self._dtype_policy.name}
        return config if self.trainable else {**config, "trainable": False}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from ``get_config()``'s dict (Keras's ``Layer.from_config``)."""
        if not isinstance(config, dict):
            raise InvalidInputError(f"{cls.__name__}.from_config takes a dict, not {config!r}")
        arguments = dict(config)
        trainable = arguments.pop("trainable", True)
        try:
            layer = cls(**arguments)
        except TypeError as exc:
            raise InvalidInputError(f"cannot make a {cls.__name__} from config {config!r}: "
                                    f"{exc}") from None
        layer.trainable = trainable
        return layer

    def count_params(self):
        return sum(_size(shape) for _, shape, *_ in self.param_specs())

    def _layer_variables(self, which):
        """The layer's weights as Variables sharing its memory, param_specs order: all
        (``which`` None), or those that train now (True) or not (False); ``[]`` unbuilt."""
        views = self.parameter_views()
        if self._backend is None or any(v is None for v in views):
            return []
        return [Variable.view_of(self._backend, view, f"{self.name}/{name}", None, 0, 0)
                for (name, *_), view in zip(self.param_specs(), views)
                if which is None or (self.trainable and self.weight_trainable(name)) == which]

    #: Keras's layer.weights / trainable_weights / non_trainable_weights (and *_variables)
    weights = variables = property(lambda self: self._layer_variables(None))
    trainable_weights = trainable_variables = property(lambda self: self._layer_variables(True))
    non_trainable_weights = non_trainable_variables = property(
        lambda self: self._layer_variables(False))

    def get_weights(self):
        """Host copies of the layer's parameters in param_specs order (``[kernel, bias]`` for
        Dense); ``[]`` for a layer without parameters or not yet built into a model."""
        views = self.parameter_views()
        if self._backend is None or any(v is None for v in views):
            return []
        return [self._backend.to_host(v) for v in views]

    def set_weights(self, weights):
        """Copy host arrays (as get_weights returns them) into the layer's parameters, in place:
        every model holding the layer sees the new values."""
        specs = self.param_specs()
        weights = list(weights)
        if specs and (self._backend is None or any(v is None for v in self.parameter_views())):
            raise InvalidInputError(
                f"layer {self.name!r} has no weights yet; build its model first (give the first "
                f"layer input_shape=..., or call fit/predict)")
        if len(weights) != len(specs):
            raise InvalidInputError(
                f"layer {self.name!r} takes {len(specs)} weight arrays "
                f"({', '.join(name for name, *_ in specs) or 'none'}) but set_weights got "
                f"{len(weights)}")
        views = self.parameter_views()
        arrays = weight_arrays([(f"{self.name}/{name}", view) for (name, *_), view
                                in zip(specs, views)], weights)
        for view, w in zip(views, arrays):
            self._backend.copy_into(view, w)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} units={self.units}>"


def _size(shape):
    size = 1
    for dim in shape:
        size *= dim
    return size


def _input_dim(input_shape, name):
    """``input_shape=(784,)``, ``784`` or ``[784]`` -> 784; None stays None."""
    from ..errors import InvalidInputError

    try:
        shape = _input_shape(input_shape, name)
    except InvalidInputError:
        shape = ()
    if shape is None:
        return None
    if len(shape) != 1:
        raise InvalidInputError(
            f"layer {name!r}: input_shape must be a positive feature count like (784,) or 784 "
            f"(dense networks take flat vectors; flatten images with x.reshape(len(x), -1)), "
            f"not {input_shape!r}")
    return shape[0]


def _input_shape(input_shape, name):
    """``input_shape=(28, 28)``, ``(784,)`` or ``784`` -> a tuple of positive ints; None stays None."""
    from ..errors import InvalidInputError

    if input_shape is None:
        return None
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        dims = (input_shape,)
    else:
        try:
            dims = tuple(input_shape)
        except TypeError:
            dims = None
    if not dims or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                           for d in dims):
        raise InvalidInputError(
            f"layer {name!r}: input_shape must be the shape of one sample, positive ints such as "
            f"(28, 28) or (784,), without the batch dimension; not {input_shape!r}")
    return tuple(int(d) for d in dims)
