"""From a Hugging Face BitNet b1.58 checkpoint to hardware: config, weights, the layer's reference numerics."""
