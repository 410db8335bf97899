"""Evidence: what auditors can prove. Each stored object's SHA-256 (computed with the upload's MD5 from the
bytes sent, never read back) in a ledger; a recording's seal (its signed list of every object it stored); an
hourly digest per application chaining every object stored since the previous one (signed, the previous
digest's hash and signature inside), stored beside the data; the access log (hash-chained per organization);
legal holds; deletions (by an administrator or by retention) with signed receipts. `documents` signs and checks,
`checks` verifies objects and chains (shared with the offline `recorder-verify`)."""
