"""Fine-tuning a trained model with Ray Train: continued pretraining on another sequences
table, or supervised fine-tuning on prompt/response and chat JSONL (``llmlake finetune``)."""
