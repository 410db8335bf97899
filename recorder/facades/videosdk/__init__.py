"""VideoSDK's participant track recording over our recordings: `tracks` (start and stop a participant's kind:
rules of the room's one recording), `wire` (the `videosdk` webhook format). Its HTTP side is
`api.facades.videosdk`."""
