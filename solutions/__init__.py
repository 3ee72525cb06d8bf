"""cnn-course reference library (instructor side: never shipped to students).

Everything is importable as ``from solutions import NAME``. Submodules are loaded
lazily, so ``import solutions`` is fast and torch / keras are imported only by
the functions that need them.

=====================  ==========================================================
module                 contents
=====================  ==========================================================
``solutions.conv``     numpy convolution: output sizes, padding, conv2d, pooling
``solutions.shapes``   layer output shapes and parameter counts of whole networks
``solutions.lenet``    LeNet-5 in PyTorch, training and evaluation loops
``solutions.transfer`` VGG16 / develop-model transfer learning in Keras 3
``solutions.backprop`` numpy backward passes of conv and pooling, gradient checks, a digits CNN
``solutions.modern``   batch norm, dropout, im2col, transposed conv, bottleneck blocks, depth
=====================  ==========================================================

``load_mnist`` and the Keras helpers (``get_vgg16``, ``select_device``, ``load_transfer_data``,
``make_augmenter``) are student-facing and live in ``autograder.tools``; they are re-exported
here for convenience.
"""
from importlib import import_module

_EXPORTS = {
    # solutions.conv
    "conv_output_size": "solutions.conv",
    "zero_pad": "solutions.conv",
    "conv2d_single": "solutions.conv",
    "conv2d": "solutions.conv",
    "conv2d_naive": "solutions.conv",
    "pool2d": "solutions.conv",
    "conv_param_count": "solutions.conv",
    # solutions.shapes
    "layer_output_shape": "solutions.shapes",
    "summarize": "solutions.shapes",
    "build_keras_model": "solutions.shapes",
    "build_torch_model": "solutions.shapes",
    # solutions.lenet
    "LeNet5": "solutions.lenet",
    "train_one_epoch": "solutions.lenet",
    "evaluate": "solutions.lenet",
    "predict": "solutions.lenet",
    "seed_everything": "solutions.lenet",
    "make_loader": "solutions.lenet",
    "get_device": "solutions.lenet",
    # solutions.transfer
    "build_transfer_model": "solutions.transfer",
    "unfreeze_top": "solutions.transfer",
    "prepare_images": "solutions.transfer",
    "reuse_model": "solutions.transfer",
    "build_source_model": "solutions.transfer",
    "train_source_model": "solutions.transfer",
    "transfer_vs_scratch": "solutions.transfer",
    "plot_transfer_vs_scratch": "solutions.transfer",
    # solutions.backprop
    "conv2d_backward": "solutions.backprop",
    "conv2d_backward_naive": "solutions.backprop",
    "pool2d_backward": "solutions.backprop",
    "pool2d_backward_naive": "solutions.backprop",
    "dilate": "solutions.backprop",
    "numerical_gradient": "solutions.backprop",
    "rel_error": "solutions.backprop",
    "gradient_check": "solutions.backprop",
    "relu_forward": "solutions.backprop",
    "relu_backward": "solutions.backprop",
    "dense_forward": "solutions.backprop",
    "dense_backward": "solutions.backprop",
    "softmax_cross_entropy": "solutions.backprop",
    "init_digits_cnn": "solutions.backprop",
    "digits_cnn_forward": "solutions.backprop",
    "digits_cnn_loss": "solutions.backprop",
    "digits_cnn_accuracy": "solutions.backprop",
    "train_digits_cnn": "solutions.backprop",
    "load_digits_split": "solutions.backprop",
    "digits_schedule": "solutions.backprop",
    "digits_shapes": "solutions.backprop",
    "sgd_epoch": "solutions.backprop",
    "check_digits_training": "solutions.backprop",
    "DIGITS_PASS_ACCURACY": "solutions.backprop",
    "read_answer": "solutions.backprop",
    "autograd_conv2d_backward": "solutions.backprop",
    "autograd_pool2d_backward": "solutions.backprop",
    "conv2d_backward_mistakes": "solutions.backprop",
    "pool2d_backward_mistakes": "solutions.backprop",
    # solutions.modern
    "batchnorm2d_forward": "solutions.modern",
    "batchnorm2d_backward": "solutions.modern",
    "dropout_forward": "solutions.modern",
    "dropout_backward": "solutions.modern",
    "im2col": "solutions.modern",
    "col2im": "solutions.modern",
    "conv2d_im2col": "solutions.modern",
    "conv_transpose2d": "solutions.modern",
    "conv_transpose2d_output_size": "solutions.modern",
    "conv2d_input_grad_as_transpose": "solutions.modern",
    "global_avg_pool": "solutions.modern",
    "global_avg_pool_backward": "solutions.modern",
    "bottleneck_cost": "solutions.modern",
    "count_conv_macs": "solutions.modern",
    "BottleneckBlock": "solutions.modern",
    "BasicBlock": "solutions.modern",
    "PlainBlock": "solutions.modern",
    "make_depth_stack": "solutions.modern",
    "stack_weights": "solutions.modern",
    "load_stack_weights": "solutions.modern",
    "first_layer_grad_norm": "solutions.modern",
    "grad_norm_vs_depth": "solutions.modern",
    "BLOCK_KINDS": "solutions.modern",
    # student-facing tools, re-exported
    "load_mnist": "autograder.tools.data",
    "get_vgg16": "autograder.tools.keras_utils",
    "select_device": "autograder.tools.keras_utils",
    "load_transfer_data": "autograder.tools.keras_utils",
    "make_augmenter": "autograder.tools.keras_utils",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'solutions' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
