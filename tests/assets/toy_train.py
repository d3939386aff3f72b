"""A toy training run that checkpoints when the scheduler asks it to suspend.

It "trains" STEPS steps; the result is a deterministic function of every step, so a run
that was suspended and resumed from its checkpoint must print the same result as one
that never stopped. argv: STEPS SECONDS_PER_STEP RESULT_FILE
"""

import json
import os
import sys
import time
from pathlib import Path

from hai_client import task

steps, pause, result_file = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
ckpt = Path(f"checkpoint-rank{task.rank()}.json")

step, acc = 0, 0
if task.is_resume():
    state = json.loads(ckpt.read_text())
    step, acc = state["step"], state["acc"]
    assert task.get_whole_life_state() == step, "whole_life_state must survive the suspend"
    print(f"resumed at step {step} (suspend_count {task.suspend_count()})", flush=True)
else:
    print(f"fresh start, rank {task.rank()} of {task.world_size()}", flush=True)

while step < steps:
    acc = (acc * 31 + step * step + 7) % 1_000_000_007
    step += 1
    print(f"step {step} acc {acc}", flush=True)
    time.sleep(pause)
    if task.receive_suspend_command():
        ckpt.write_text(json.dumps({"step": step, "acc": acc}))
        task.set_whole_life_state(step)
        print(f"checkpointed at step {step}, suspending", flush=True)
        task.go_suspend()
        sys.exit(0)

if task.rank() == 0:
    result_file.write_text(str(acc))
print(f"done acc {acc} pid {os.getpid()}", flush=True)
