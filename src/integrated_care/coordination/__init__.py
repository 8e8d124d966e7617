"""Care coordination: referrals between member organisations (including social prescribing to
voluntary and community organisations), MDT worklists and shared care plans."""
