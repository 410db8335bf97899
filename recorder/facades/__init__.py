"""The facades' domain: each vendor's API over the recorder's core, one package per facade (`realtimekit`,
`videosdk`, `coaching`), all over one small port of the core (`core.FacadeCore`). Their HTTP side is
`api.facades.<name>`."""
