"""Cluster training: parallel layouts, FLOP conventions, iteration time, memory and layout search."""
