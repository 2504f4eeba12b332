"""Lab tools beside the product: the benchmark, demo training, dataset export and scoring."""
