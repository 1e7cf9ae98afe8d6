"""``suite measure``: how much faster a pruned model really runs.

For each finished run, the dense model of the cell's architecture, the pruned model as
trained (masked dense weights) and a form of the pruned model that can be faster are
timed side by side:

- masks that zero whole output channels (DPF ``structure = "filter"``, or any mask
  that happens to): the model physically shrunk by torch-pruning (:mod:`.shrink`);
- other masks: the conv and linear layers as CSR sparse matrices, im2col convolution
  (:mod:`.sparse`); on a GPU also 2:4 semi-structured sparsity where a layer's mask
  allows it.

Timing (:mod:`.timing`) interleaves the forms, warms up, runs one thread by default and
keeps the median with p10/p90, the machine (CPU model, torch's CPU capability, threads)
beside every figure. MACs (:mod:`.macs`) are counted by ``torch.utils.flop_counter`` on
the model that runs. Records go to the store's ``measurements`` table
(:mod:`suite.store.measurements`), one per run and machine.
"""
