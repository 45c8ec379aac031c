"""Measured accuracy: top-1 / top-5 of a model with trained weights, on an ImageNet-style folder,
through the runner that times the same artifact (``ghostbench evaluate``, ``docs/accuracy.md``).

- ``data``: the folder layouts (class sub-folders, or the ILSVRC2012 validation layout with its
  label file) and each family's official evaluation preprocessing;
- ``score``: top-k credit per image and the running tally;
- ``infer``: a runner (torch, ONNX Runtime, LiteRT, TensorRT) driven on real images.
"""
