"""Answering-machine detection from the first seconds of an answered call."""

from .detector import AmdConfig, AmdDecision, AnsweringMachineDetector

__all__ = ["AmdConfig", "AmdDecision", "AnsweringMachineDetector"]
