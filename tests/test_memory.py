"""The memory a run may take: a budget bounds the whole process, so what it holds already is counted."""

import subprocess
import sys

import torch

from impasto.config import TransferConfig
from impasto.memory import NETWORK_BYTES, available_bytes, resolve_runtime, seconds_per_pixel

GiB = 2**30


def test_a_budget_counts_what_the_process_holds_and_the_network_to_load() -> None:
    config = TransferConfig(memory_budget=4 * GiB, device="cpu")
    before = resolve_runtime(config, network_held=False, held=GiB)
    assert before.held == GiB + NETWORK_BYTES and before.budget == 3 * GiB - NETWORK_BYTES
    after = resolve_runtime(config, network_held=True, held=GiB)
    assert after.held == GiB and after.budget == 3 * GiB


def test_the_process_is_measured_where_no_holding_is_given() -> None:
    # In a fresh process: in this one, memory that earlier tests freed stays resident and can take the
    # ballast without the resident set growing.
    probe = """
import torch
from impasto.config import TransferConfig
from impasto.memory import process_bytes, resolve_runtime
held = process_bytes(torch.device("cpu"))
ballast = torch.ones(64 * 2**20, dtype=torch.uint8)
runtime = resolve_runtime(TransferConfig(memory_budget=64 * 2**30, device="cpu"), network_held=True)
print(held, process_bytes(torch.device("cpu")), 64 * 2**30 - runtime.budget)
"""
    measured = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    held, after, taken = map(int, measured.stdout.split())
    assert after >= held + 60 * 2**20 and taken >= held + 60 * 2**20


def test_a_budget_smaller_than_the_process_leaves_the_run_nothing() -> None:
    assert resolve_runtime(TransferConfig(memory_budget=2**20, device="cpu"), network_held=False).budget == 0


def test_without_a_budget_the_run_may_take_what_is_free() -> None:
    runtime = resolve_runtime(TransferConfig(device="cpu"), network_held=True)
    assert runtime.device == torch.device("cpu") and runtime.host_budget is None
    assert abs(runtime.budget - available_bytes(torch.device("cpu"))) < GiB
    assert 2**27 < available_bytes(torch.device("cpu")) < 2**50


def test_times_are_estimated_only_where_the_device_was_measured() -> None:
    cpu = resolve_runtime(TransferConfig(device="cpu", precision="fp32"), network_held=True)
    rate, measured_on = seconds_per_pixel(cpu)
    assert rate > 0 and measured_on is not None and "timed on this CPU" in measured_on
