"""Using a trained network: photos and scans preprocessed to MNIST's 28x28, predictions, ONNX/TorchScript
export with a parity check, the web server, and the shipped default weights."""
