"""A coaching app's session API over our recordings: `sessions` (sessions its backend registers; the coach
starts their recording once; the completed session composed and streamed). Its HTTP side is
`api.facades.coaching`."""
