"""A rank that holds its GPUs until told: it exits 0 when the file named in argv[1]
appears, and checkpoints-and-leaves (go_suspend) when the scheduler asks it to suspend."""

import sys
import time
from pathlib import Path

from hai_client import task

release = Path(sys.argv[1])
print(f"holding (resume {task.is_resume()})", flush=True)
while not release.exists():
    if task.receive_suspend_command():
        print("suspending", flush=True)
        task.go_suspend()
        sys.exit(0)
    time.sleep(0.02)
print("released", flush=True)
