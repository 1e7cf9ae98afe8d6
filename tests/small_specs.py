"""Seconds-long specs shared by the CLI, API and export tests."""

#: dense and DPF at 50% on a tiny MLP and synthetic data, one seed, one epoch.
TWO_METHODS = """
[suite]
name = "two"
seeds = [0]
[grid]
method = ["dense", "dpf"]
model = ["mlp"]
dataset = ["synthetic"]
sparsity = [0.5]
[train]
epochs = 1
batch_size = 64
[model.mlp]
hidden = [16]
[dataset.synthetic]
train_size = 128
test_size = 64
"""

#: DPF alone at 80%, otherwise the same.
ONE_METHOD = (TWO_METHODS.replace('name = "two"', 'name = "one"')
              .replace('method = ["dense", "dpf"]', 'method = ["dpf"]')
              .replace("sparsity = [0.5]", "sparsity = [0.8]"))
