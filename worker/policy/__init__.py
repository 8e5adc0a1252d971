"""The one failure policy: what an error means (failures), the task base class that applies it (task), and the
credit check that resumes Fish calls and sends parked work again (credit)."""
