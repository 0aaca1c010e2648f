"""Running a runbook: the scheduler and its steps, their records and statuses, retries and pacing under
ARM's limits, ASR jobs followed together, the journal that lets a crashed run resume, the run lock."""
