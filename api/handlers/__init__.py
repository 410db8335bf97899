"""Request handlers, one module per section of the route table (`api.routes`): parse, call one capability
(`api.keys`) with the caller's organization, present.

No domain rule lives here: which URL a file gets and where a link's file is read from is
`recorder.downloads`; who may call what is the route table."""
