"""The DeepSpeed backend's parts that need neither DeepSpeed nor a launcher: options, the
batch rule, the launch command, progress and result passing, mask checksums, batch
norm over ranks, rank shards. (Runs through the real launcher: test_deepspeed.py.)"""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from backends import BACKENDS, create_backend
from backends.base import NullProgress, RunFailed
from backends.deepspeed.backend import (
    DeepSpeedBackend,
    _terminate,
    check_master_port,
    port_in_use,
    remove_shm_buffers,
)
from backends.deepspeed.batchnorm import LocalBatchNorm, RankBatchNorm, convert_batchnorm
from backends.deepspeed.data import RankShards, RankSlices, rank_loaders
from backends.deepspeed.master import mask_checksum
from backends.deepspeed.options import DeepSpeedOptions, check_batch, hostfile_slots
from backends.deepspeed.protocol import ProgressFollower
from suite import interrupt
from suite.data import create_dataset
from suite.errors import SpecError, SuiteError
from suite.grid import expand
from suite.spec import parse_spec


def spec_with(table: str, tiny_spec_text: str):
    return parse_spec(tiny_spec_text.replace("[suite]", '[suite]\nbackend = "deepspeed"', 1) + table)


def test_registered_and_options_parsed_from_the_spec(tiny_spec_text):
    assert BACKENDS.get("deepspeed") is DeepSpeedBackend
    spec = spec_with('\n[backend.deepspeed]\nnum_gpus = 2\nzero_stage = 1\nprecision = "bf16"\n'
                     'launcher_args = ["--bind_cores_to_rank"]\n', tiny_spec_text)
    o = spec.backend_options["deepspeed"]
    assert (o.num_gpus, o.zero_stage, o.precision) == (2, 1, "bf16")
    assert o.launcher_args == ("--bind_cores_to_rank",)
    assert "ZeRO-1, bf16" in create_backend("deepspeed", o).describe()
    # backend options are execution knobs: the cells are those of the torch backend, but
    # for the precision, which joins the id (as on the torch backend) unless it is fp32
    torch_bf16 = parse_spec(tiny_spec_text + '\n[backend.torch]\nprecision = "bf16"\n')
    assert [c.id for c in expand(spec)] == [c.id for c in expand(torch_bf16)]
    fp32 = spec_with('\n[backend.deepspeed]\nnum_gpus = 2\nzero_stage = 1\nprecision = "fp32"\n',
                     tiny_spec_text)
    assert [c.id for c in expand(fp32)] == [c.id for c in expand(parse_spec(tiny_spec_text))]


@pytest.mark.parametrize("table, message", [
    ("zero_stage = 3", "zero_stage = 3 is not allowed"),
    ('precision = "bf16"', "needs zero_stage = 1 or 2"),
    ('precision = "auto"', "'auto' .which may pick bf16. needs zero_stage = 1 or 2"),
    ('precision = "tf32"', "precision = 'tf32' is not allowed; expected one of 'fp32', 'bf16', "
                           "'fp16', 'auto'"),
    ("num_gpus = -1", "num_gpus = -1 must be >= 0"),
    ("master_port = 70000", "master_port = 70000"),
    ("numgpus = 2", "did you mean"),
])
def test_bad_options_name_the_key(tiny_spec_text, table, message):
    with pytest.raises(SpecError, match=message):
        spec_with(f"\n[backend.deepspeed]\n{table}\n", tiny_spec_text)


def test_fit_refuses_options_made_in_code_that_a_spec_would_refuse(tiny_spec_text, tmp_path):
    cell = expand(parse_spec(tiny_spec_text))[0]
    pytest.importorskip("deepspeed")
    with pytest.raises(SuiteError, match="needs zero_stage = 1 or 2"):
        DeepSpeedBackend(DeepSpeedOptions(precision="bf16")).fit(cell, 0, tmp_path, None)
    with pytest.raises(SuiteError, match="batch_size = 64 cannot be split evenly over 3"):
        DeepSpeedBackend(DeepSpeedOptions(num_gpus=3)).fit(cell, 0, tmp_path, None)
    assert not list(tmp_path.iterdir())  # refused before anything was written


@pytest.fixture
def listener():
    """A TCP port another process (here: this one) listens on, as ``(socket, port)``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_master_port_in_use_is_refused_before_launching(listener, tmp_path):
    assert port_in_use(listener)
    with pytest.raises(SuiteError, match=rf"master_port = {listener} is in use on this machine"
                                         r".*or 0 to let each launch pick one"):
        check_master_port(DeepSpeedOptions(master_port=listener))
    check_master_port(DeepSpeedOptions())  # 0: the backend picks a free port per launch
    # with a hostfile rank 0 may start on another host, where this machine's ports say nothing
    check_master_port(DeepSpeedOptions(master_port=listener, hostfile=str(tmp_path / "hosts")))


def test_a_port_nobody_listens_on_is_free():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: closed below
    assert not port_in_use(port)
    check_master_port(DeepSpeedOptions(master_port=port))


def test_fit_refuses_a_master_port_in_use_before_writing_anything(tiny_spec_text, tmp_path, listener):
    pytest.importorskip("deepspeed")
    cell = expand(parse_spec(tiny_spec_text))[0]
    with pytest.raises(SuiteError, match=f"master_port = {listener} is in use"):
        DeepSpeedBackend(DeepSpeedOptions(num_gpus=2, master_port=listener)).fit(cell, 0, tmp_path, None)
    assert not list(tmp_path.iterdir())


def test_global_batch_is_split_evenly_or_refused():
    assert check_batch(1024, 8) == (128, 1)
    assert check_batch(1024, 8, micro_batch_size=32) == (128, 4)
    with pytest.raises(SuiteError, match="batch_size = 64 cannot be split evenly over 3"):
        check_batch(64, 3)
    with pytest.raises(SuiteError, match="micro_batch_size = 24 must divide the per-rank batch 32"):
        check_batch(64, 2, micro_batch_size=24)


def test_world_size_from_options_and_hostfile(tmp_path):
    assert DeepSpeedOptions().world_size() is None  # the launcher decides
    assert DeepSpeedOptions(num_gpus=4).world_size() == 4
    hosts = tmp_path / "hostfile"
    hosts.write_text("# two nodes\nnode-a slots=8\nnode-b slots=8  # spare\n")
    assert hostfile_slots(hosts) == [8, 8]
    assert DeepSpeedOptions(hostfile=str(hosts)).world_size() == 16
    assert DeepSpeedOptions(hostfile=str(hosts), num_nodes=1).world_size() == 8
    assert DeepSpeedOptions(hostfile=str(hosts), num_gpus=2).world_size() == 4
    hosts.write_text("node-a 8\n")
    with pytest.raises(SuiteError, match="slots=N"):
        hostfile_slots(hosts)


def test_launch_command(tmp_path):
    hosts = tmp_path / "hostfile"
    o = DeepSpeedOptions(num_gpus=8, num_nodes=2, hostfile=str(hosts), master_addr="node-a",
                         launcher_args=("--include", "node-a@node-b"))
    cmd = DeepSpeedBackend(o).command(tmp_path / "job.pkl", 29511)
    assert cmd[0].endswith("deepspeed") or cmd[1:3] == ["-m", "deepspeed.launcher.runner"]
    joined = " ".join(cmd)
    for part in (f"--hostfile {hosts}", "--num_nodes 2", "--num_gpus 8", "--master_addr node-a",
                 "--master_port 29511", "--include node-a@node-b",
                 f"--module backends.deepspeed.worker {tmp_path / 'job.pkl'}"):
        assert part in joined
    local = " ".join(DeepSpeedBackend(DeepSpeedOptions()).command(tmp_path / "j", 1))
    assert "--num_gpus" not in local and "--hostfile" not in local and "--num_nodes" not in local


def test_shared_memory_buffers_of_the_finished_job_are_removed(tmp_path):
    names = ["deepspeed_allreduce_buffer_0_127.0.0.1_29500_0",
             "deepspeed_allreduce_buffer_0_127.0.0.1_29500_1",
             "deepspeed_allreduce_buffer_0_127.0.0.1_29501_0",   # another job, still running
             "deepspeed_allreduce_buffer_0_10.0.0.29500_7_0",    # port 7, not 29500
             "torch_shm_29500_0"]                                # not DeepSpeed's
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_shm_buffers(29500, tmp_path)
    assert sorted(p.name for p in removed) == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def test_cells_pickle_for_the_job_file(tiny_spec_text):
    cell = expand(parse_spec(tiny_spec_text))[0]
    assert pickle.loads(pickle.dumps(cell)).id == cell.id


class Recorder:
    def __init__(self):
        self.events = []

    def start(self, total, description):
        self.events.append(("start", total, description))

    def advance(self, steps, **postfix):
        self.events.append(("advance", steps, postfix))

    def close(self):
        self.events.append(("close",))


def test_progress_lines_are_replayed_whole(tmp_path):
    path, rec = tmp_path / "progress.jsonl", Recorder()
    follower = ProgressFollower(path, rec)
    follower.poll()  # no file yet
    with open(path, "w") as fh:
        fh.write(json.dumps({"start": 8, "description": "d"}) + "\n" + '{"advance": 3, "pos')
    follower.poll()
    assert rec.events == [("start", 8, "d")]
    with open(path, "a") as fh:
        fh.write('tfix": {"epoch": "1/2"}}\n')
    follower.poll()
    assert rec.events[-1] == ("advance", 3, {"epoch": "1/2"})


def test_results_failures_and_stops_are_passed_back(tmp_path):
    backend = DeepSpeedBackend(DeepSpeedOptions())
    log = tmp_path / "launch.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    (tmp_path / "result.json").write_text(json.dumps({"metrics": {"top1": 1.0}}))
    assert backend._collect(0, tmp_path, log) == {"metrics": {"top1": 1.0}}
    (tmp_path / "result.json").unlink()
    with pytest.raises(RunFailed, match=r"exited with status 1 .*\n(.|\n)*line 99$"):
        backend._collect(1, tmp_path, log)
    for rank in (1, 0):
        (tmp_path / f"failed-rank{rank}.json").write_text(json.dumps(
            {"error": f"boom on {rank}", "partial": {"epochs_done": 1}, "rank": rank, "world": 2}))
    with pytest.raises(RunFailed, match=r"boom on 0 \(rank 0 of 2") as info:
        backend._collect(1, tmp_path, log)
    assert info.value.partial == {"epochs_done": 1}
    (tmp_path / "interrupted").write_text("")
    with pytest.raises(interrupt.Interrupted):
        backend._collect(0, tmp_path, log)


#: What a rank prints when its master port was taken before it could listen (torch 2.x).
PORT_TAKEN = ("torch.distributed.DistNetworkError: The server socket has failed to listen on any "
              "local network address. port: 34575, useIpv6: false, code: -98, name: EADDRINUSE, "
              "message: address already in use\n")


class FakeLaunches:
    """Stands in for ``DeepSpeedBackend._launch``: each launch prints the next of
    ``outputs``; a launch whose output is ``"ok"`` writes a result and exits 0."""

    def __init__(self, outputs: list[str], started: bool = False) -> None:
        self.outputs, self.started, self.ports = list(outputs), started, []

    def __call__(self, job, port, folder, progress):
        self.ports.append(port)
        out = self.outputs.pop(0)
        if self.started:
            (folder.path / "progress.jsonl").write_text('{"epoch": 1}\n')
        if out == "ok":
            (folder.path / "result.json").write_text(json.dumps({"metrics": {"top1": 1.0}}))
            return 0, out
        return 1, out


@pytest.mark.parametrize("outputs, master_port, started, launches, passes", [
    ([PORT_TAKEN, "ok"], 0, False, 2, True),                     # taken once: launched again
    ([PORT_TAKEN, PORT_TAKEN, PORT_TAKEN], 0, False, 3, False),  # gives up after three
    ([PORT_TAKEN, "ok"], 29500, False, 1, False),                # the user's port: not replaced
    ([PORT_TAKEN, "ok"], 0, True, 1, False),                     # past start-up: a real failure
    (["Traceback: boom\n", "ok"], 0, False, 1, False),           # another failure: not retried
])
def test_a_taken_master_port_is_replaced_only_when_the_backend_chose_it(
        tiny_spec_text, tmp_path, monkeypatch, outputs, master_port, started, launches, passes):
    pytest.importorskip("deepspeed")
    fake = FakeLaunches(outputs, started)
    monkeypatch.setattr(DeepSpeedBackend, "_launch", fake)
    cell = expand(parse_spec(tiny_spec_text))[0]
    backend = DeepSpeedBackend(DeepSpeedOptions(num_gpus=2, master_port=master_port))
    if passes:
        assert backend.fit(cell, 0, tmp_path, NullProgress()) == {"metrics": {"top1": 1.0}}
    else:
        with pytest.raises(RunFailed):
            backend.fit(cell, 0, tmp_path, NullProgress())
    assert len(fake.ports) == launches
    assert len(set(fake.ports)) == launches or master_port  # a port found afresh each time
    log = (tmp_path / "deepspeed" / "launch.log").read_text() if launches > 1 else ""
    assert log.count("was taken before rank 0 could listen on it; launching again") == launches - 1


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_second_interrupt_kills_the_launcher_and_its_children(tmp_path):
    pid_file = tmp_path / "pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                             f"subprocess.run([sys.executable, '-c', {child!r}])"],
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    _terminate(proc, grace=5)
    assert proc.returncode is not None
    while running(grandchild):
        assert time.monotonic() < deadline, "the launcher's child survived"
        time.sleep(0.1)


def test_mask_checksum_sees_one_flipped_entry_not_dict_order():
    g = torch.Generator().manual_seed(0)
    masks = {"b.weight": torch.rand(5, 7, generator=g) < 0.5, "a.weight": torch.rand(3, generator=g) < 0.5}
    same = {k: masks[k].clone() for k in sorted(masks)}
    assert mask_checksum(masks) == mask_checksum(same)
    same["b.weight"][4, 6] ^= True
    assert mask_checksum(masks) != mask_checksum(same)


@pytest.mark.parametrize("dims", [(16, 6), (8, 3, 5, 5)])
def test_rank_batchnorm_matches_batchnorm_in_one_process(dims):
    torch.manual_seed(0)
    ref = (nn.BatchNorm1d if len(dims) == 2 else nn.BatchNorm2d)(dims[1])
    nn.init.uniform_(ref.weight)
    mine = convert_batchnorm(nn.Sequential(ref), "sync", torch.device("cpu"), mixed_precision=False)[0]
    assert isinstance(mine, RankBatchNorm) and mine.weight is ref.weight
    ref2 = (nn.BatchNorm1d if len(dims) == 2 else nn.BatchNorm2d)(dims[1])
    ref2.load_state_dict(ref.state_dict())
    x = torch.randn(*dims, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    for _ in range(2):
        y, y2 = mine(x), ref2(x2)
        torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-5)
    (y * torch.arange(y.numel()).view_as(y)).sum().backward()
    (y2 * torch.arange(y2.numel()).view_as(y2)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mine.running_var, ref2.running_var)
    assert int(mine.num_batches_tracked) == 2
    mine.eval()
    ref2.eval()
    torch.testing.assert_close(mine(x.bfloat16().float()), ref2(x.bfloat16().float()), rtol=1e-5, atol=1e-5)
    assert mine(x.bfloat16()).dtype == torch.bfloat16  # fp32 running statistics, bf16 input


def test_local_batchnorm_only_for_mixed_precision():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert isinstance(convert_batchnorm(model, "local", torch.device("cpu"), False)[1], nn.BatchNorm1d)
    assert isinstance(convert_batchnorm(model, "local", torch.device("cpu"), True)[1], LocalBatchNorm)


class Batches:
    """A global-batch loader: batch k holds 8k .. 8k+7."""

    num_samples = 32

    def __len__(self):
        return 4

    def epoch(self, epoch):
        for k in range(4):
            x = torch.arange(8 * k, 8 * k + 8)
            yield x, x


class Sharding:
    """A dataset whose loader shards by rank (rank r: elements r, r + world, ...)."""

    def loader(self, split, batch_size, *, train, seed=0, device="cpu", channels_last=False,
               rank=0, world=1):
        order = torch.arange(33 if train else 10)[rank::world]

        class Loader:
            def __len__(self):
                return len(order) // batch_size

            def epoch(self, epoch):
                for k in range(len(self)):
                    yield order[k * batch_size:(k + 1) * batch_size], None

        return Loader()


def test_ranks_share_each_global_batch():
    shares = [list(RankSlices(Batches(), r, 2).epoch(0)) for r in range(2)]
    for k in range(4):
        assert sorted(torch.cat([shares[0][k][0], shares[1][k][0]]).tolist()) == list(range(8 * k, 8 * k + 8))
    plain = rank_loaders(create_dataset("digits"), Batches(), Batches(), rank_batch=4, test_batch=8, seed=0,
                         device=torch.device("cpu"), channels_last=False, rank=1, world=2)
    assert isinstance(plain[0], RankSlices)
    train, _ = rank_loaders(Sharding(), Batches(), Batches(), rank_batch=4, test_batch=8, seed=0,
                            device=torch.device("cpu"), channels_last=False, rank=0, world=2)
    assert isinstance(train, RankShards) and len(train) == 4 and train.num_samples == 32
    got = [x.tolist() for x, _ in train.epoch(0)]
    assert got == [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18, 20, 22], [24, 26, 28, 30]]  # 4, not 4.1


def test_importing_the_backends_leaves_deepspeed_unimported():
    """DeepSpeed is optional: registering its backend must not import it."""
    code = ("import sys, backends, backends.deepspeed.worker; "
            "assert backends.BACKENDS.get('deepspeed'); assert 'deepspeed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
