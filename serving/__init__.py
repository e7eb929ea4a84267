"""Serving: the BentoML service, sampling with a KV cache, request and feedback logs.

Empty until the serving stage lands.
"""
