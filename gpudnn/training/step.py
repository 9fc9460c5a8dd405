"""The training step on a workspace: forward, loss and metric accumulation, backward, update.

This is the unit a CUDA graph captures: backend calls only, each writing into given buffers and
reading what changes per step (the batch's position, the optimizer's step values, the dropout
step) from device memory. Back-propagation stops at the first layer with parameters: the
gradient with respect to the model's input is never computed.
"""

import numpy as np

#: Classes up to which a softmax + categorical cross-entropy step does its loss, accuracy and
#: output gradient in one launch (softmax_cce_step, a thread per row); above, separate ops.
ONE_CALL_MAX_CLASSES = 32


class TrainingStep:
    """Mixin of ``Sequential``: the step and the device accumulators of loss and metrics."""

    #: the step weighs each sample's loss by ``ws.w`` (sample_weight / class_weight given); set
    #: by the loops for the length of a call, part of what a recorded step is bound to
    _sample_weighted = False

    def _forward(self, x, ws, training=False):
        """Run the layers on the batch x; returns the output. ``training`` switches Dropout on
        (with the current step); identity layers pass their input on without a call. Under a
        mixed policy the caller refreshes the 16-bit weights first (``_refresh_half_weights``:
        once per training step, once per inference call). In training a BatchNormalization
        computes the Activation layer after it in the same passes (``_fused_activation``)."""
        be, acts = self.backend, ws.acts
        fused = None  # the leaf whose output the last layer's pass already wrote
        for i, layer in enumerate(self._leaf_layers):
            if i == fused:
                ws.inputs[i] = ws.outputs[i - 1]  # not written: the pair's output is this one's
            elif not self._identity(i, training):
                out = ws.outputs[i]
                wide = ws.wide_inputs[i]
                if wide is not None and x.dtype != wide.dtype:  # a float32 layer, 16-bit input
                    be.copy_into(wide, x)
                    x = wide
                ws.inputs[i] = x
                if layer.stochastic:
                    layer.forward(be, x, out, self._dropout_step)
                elif layer.mode_dependent:  # BatchNormalization; frozen, or called with
                    # training=False in a functional model, it stays in inference
                    spec = self._fused_activation(i, ws) if training else None
                    pair = {}
                    if spec is not None:
                        out, fused, pair = ws.outputs[i + 1], i + 1, {"activation": spec}
                    layer.forward(be, x, out, training=training and i not in self._frozen
                                  and i not in self._inference_leaves,
                                  trains_in_inference=training and i in self._trains_in_inference,
                                  **pair)
                else:
                    layer.forward(be, x, out)
                x = out
            acts[i] = x
        return x

    def _fused_activation(self, i, ws):
        """The activation ``Spec`` of leaf i + 1 when BatchNormalization leaf i computes it in
        its training passes (``_bn_fusions``: see ``_freeze_layout``) and both write the same
        buffer dtype, else None. Each pass then reads and writes the batch once where the
        two layers took two."""
        if i not in self._bn_fusions or ws.wide_inputs[i + 1] is not None \
                or ws.outputs[i + 1].dtype != ws.outputs[i].dtype:
            return None
        return self._leaf_layers[i + 1].fusable_spec()

    def _fused(self):
        return self._output_activation() == self.loss.fused_activation

    def _loss_in_one_call(self):
        """True when a training step's loss, accuracy and output gradient are one backend call
        (``softmax_cce_step``): a softmax output of at most ONE_CALL_MAX_CLASSES classes with
        categorical cross-entropy (the fused gradient) and no metric but one categorical
        accuracy. (Its threads walk whole rows: with many classes the separate, element-wise
        ops are the faster ones.)"""
        if not self._fused() or self.loss.kind != "cce" or self.output_dim > ONE_CALL_MAX_CLASSES:
            return False
        if self._has_weighted_metrics():
            return False
        return [self._metric_mode(name) for name in self.metric_names] in ([], ["categorical"])

    def _regularized(self):
        """``(parameter view, gradient view, regularizer)`` of each penalized parameter (a
        layer's ``<name>_regularizer``, e.g. Dense's kernel_regularizer) of the layers the step
        trains: as Keras 3, a frozen layer's penalty is neither in the loss nor in a gradient."""
        return [(param, grad, reg) for i, layer in enumerate(self._leaf_layers)
                if i not in self._frozen
                for (name, *_), param, grad in zip(layer.param_specs(), layer.parameter_views(),
                                                   layer.gradient_views())
                if (reg := getattr(layer, f"{name}_regularizer", None)) is not None
                and (reg.l1 or reg.l2)]

    def _constrained(self):
        """``(parameter view, constraint)`` of each constrained weight (a layer's
        ``<name>_constraint``) of the layers the step trains, each checked against its
        weight's shape."""
        found = []
        for i, layer in enumerate(self._leaf_layers):
            if i in self._frozen:
                continue
            for (name, shape, *_), param in zip(layer.param_specs(), layer.parameter_views()):
                constraint = getattr(layer, f"{name}_constraint", None)
                if constraint is not None and layer.weight_trainable(name):
                    constraint.check_shape(shape, f"{layer.name}/{name}")
                    found.append((param, constraint))
        return found

    def _step_weights(self, ws):
        """The batch's (n, 1) sample weights when this step weighs samples, else None."""
        return ws.w if self._sample_weighted else None

    def _backward(self, ws, loss_gradient_done=False):
        """Gradients of every parameter into ``self.grads``; ``loss_gradient_done``: the output
        gradient ``ws.grads[-1]`` is already written (by ``_accumulate``). Each sample's loss
        gradient is scaled by its weight when the step is weighted."""
        be, layers = self.backend, self._leaf_layers
        last = self._output_index
        prediction, delta = ws.acts[-1], ws.grads[-1]
        fused = self._fused()
        if not loss_gradient_done:
            self.loss.gradient(be, prediction, ws.y, delta, fused, weights=self._step_weights(ws))
        scaled = self._loss_scaled()
        if scaled:  # float16: dL/dy times the loss scale (LossScaleOptimizer)
            self.optimizer.scale_gradient(be, delta)
        fusions = {i: spec for i in self._bn_fusions
                   if (spec := self._fused_activation(i, ws)) is not None}
        for i in range(last, self._first_trainable - 1, -1):
            layer = layers[i]
            if self._identity(i, True) or i - 1 in fusions:
                continue  # its gradient buffer is the previous layer's; or the pair's below
            layer_input = ws.inputs[i]
            dx = ws.grads[i - 1] if i > self._first_trainable else None
            narrow_dx = None
            if dx is not None and ws.wide_dx[i] is not None and dx.dtype != ws.wide_dx[i].dtype:
                narrow_dx, dx = dx, ws.wide_dx[i]  # a float32 layer's dx, rounded below
            if layer.stochastic:
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx,
                               step=self._dropout_step)
            elif i in self._frozen:  # its dx only: no gradient work for frozen weights
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx,
                               skip_activation=fused and i == last, param_grads=False)
            elif i in self._trains_in_inference:
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx, inference=True)
            elif i in fusions:  # BatchNormalization and the Activation after it
                layer.backward(be, layer_input, ws.acts[i + 1], ws.grads[i + 1], dx,
                               activation=fusions[i])
            else:
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx,
                               skip_activation=fused and i == last)
            if narrow_dx is not None:
                be.copy_into(narrow_dx, dx)
        if scaled:  # back to the true gradients, and whether they are finite (on the device)
            self.optimizer.unscale(be, self.grads)
        for param, grad, reg in self._regularized():
            be.add_penalty_grad(param, grad, reg.l1, reg.l2)

    def _accumulate(self, prediction, y, totals, grad=None, weights=None):
        """Add a batch's summed loss (weight penalties included, as Keras reports them) and
        correct counts to the device accumulators. With ``grad`` (a training step where
        ``_loss_in_one_call()``), the same backend call writes the output gradient there.
        ``weights`` (n, 1): each sample's loss counts ``w_i`` times (Keras's sample_weight);
        the metrics stay unweighted, as Keras's ``metrics`` are, and ``weighted_metrics`` get
        them. A gpudnn.metrics object adds into its own accumulator with backend calls."""
        be = self.backend
        if grad is None:
            self.loss.accumulate(be, prediction, y, totals[0], weights=weights)
        else:
            be.softmax_cce_step(prediction, y, grad, totals[0],
                                totals[1] if self.metric_names else None,
                                self.loss.label_smoothing, weights=weights)
        for param, _, reg in self._regularized():
            be.accumulate_penalty(param, reg.l1, reg.l2, prediction.shape[0], totals[0])
        if grad is None:
            for j, name in enumerate(self.metric_names, start=1):
                w = weights if self._metric_weighted(name) else None
                metric = self._metric_object(name)
                if metric is None:
                    be.accumulate_correct(prediction, y, self._metric_mode(name), totals[j],
                                          weights=w)
                else:
                    metric.accumulate(be, prediction, y, totals[j], weights=w)
        if self._has_weighted_metrics():  # their denominator: the batch's weight, sum_i w_i
            if weights is None:
                be.add_to_total(totals[-1], float(prediction.shape[0]))
            else:
                be.accumulate_sum(weights, totals[-1])

    def _logs(self, totals, count, prefix=""):
        """Host values of the device accumulators as Keras logs (the one host sync)."""
        states = [self.backend.to_host(t) for t in totals]
        values = [float(v) if v.ndim == 0 else v for v in states]
        logs = {prefix + "loss": values[0] / count}
        for name, value in zip(self.metric_names, values[1:]):
            # a weighted metric divides by the samples' total weight (Keras's weighted mean)
            denominator = values[-1] if self._metric_weighted(name) else count
            metric = self._metric_object(name)
            if metric is not None:  # its value from its accumulator (counts, sums)
                logs[prefix + name] = metric.result_of(value, denominator, self.output_dim)
                continue
            # binary accuracy counts every output element (Keras averages over them)
            if self._metric_mode(name) == "binary":
                denominator *= self.output_dim
            logs[prefix + name] = value / denominator if denominator else 0.0
        return logs

    def _has_weighted_metrics(self):
        return any(self._metric_weighted(name) for name in self.metric_names)

    def _totals_shapes(self):
        """The loss, each metric (a metric object's state shape), and the total weight when a
        metric is weighted: float64 accumulators."""
        metrics = [self._metric_object(name) for name in self.metric_names]
        return ([()] + [() if m is None else tuple(m.state_shape(self.output_dim))
                        for m in metrics] + ([()] if self._has_weighted_metrics() else []))

    def _new_totals(self):
        return [self.backend.zeros(shape, np.float64) for shape in self._totals_shapes()]

    def _epoch_totals(self):
        """fit's accumulators, zeroed: the same buffers every epoch (a recorded step writes
        into them)."""
        totals = self.__dict__.get("_fit_totals")
        if totals is None or [t.shape for t in totals] != self._totals_shapes():
            totals = self._fit_totals = self._new_totals()
        for total in totals:
            self.backend.fill(total, 0.0)
        return totals

    def _train_batch(self, ws, totals, record=False, feed=None):
        """One training step on the batch in ``ws`` (first gathered from ``feed``, a
        ``training.BatchFeed``, when given); with ``record`` (fit's steady state), the device
        part is recorded on its first run for this batch size and replayed after. The caller
        decides: ``fit`` passes ``recorded_steps.capture_enabled()`` (GPUDNN_RECORD_STEPS)."""
        self.optimizer.begin_step(self.backend)
        if record:
            self._steps.run(self, ws, totals, feed)
        else:
            self._device_step(ws, totals, feed)
        self.optimizer.end_step()

    def _device_step(self, ws, totals, feed=None):
        """The batch's gather from ``feed`` (if any), forward, loss and metric accumulation,
        backward and update: backend calls only, each writing into given buffers and reading
        per-step values (the batch's position, the optimizer's step values) from device memory."""
        if feed is not None:
            feed.gather(self.backend, ws)
        self._refresh_half_weights()  # the last step's update changed the float32 weights
        constrained = self._constrained()  # checked before any weight moves
        one_call = self._loss_in_one_call()
        self._accumulate(self._forward(ws.x, ws, training=True), ws.y, totals,
                         grad=ws.grads[-1] if one_call else None, weights=self._step_weights(ws))
        self._backward(ws, loss_gradient_done=one_call)
        self.optimizer.update(self.backend, self.params, self.grads, self._train_ranges)
        for param, constraint in constrained:  # Keras's order: after the update
            constraint.apply(self.backend, param)
        self._advance_step()

    def _advance_step(self):
        """One training step done: the dropout step moves on (on the device, no host sync)."""
        if self._has_dropout:
            self.backend.increment(self._dropout_step)
