"""Benchmarks, the pipeline harness and synthetic market data: the layer above the product.

``fundingflow bench`` (:mod:`benchmarks.cli`) is registered as a ``fundingflow.commands`` entry
point; the integration tests share the harness (:mod:`benchmarks.harness`) and the synthetic
records (:mod:`benchmarks.synthetic`). No product package imports this one.
"""
