"""Model training: the GPT model (torch only), data loading, Ray Train and Tune drivers.

Empty until the training stage lands.
"""
