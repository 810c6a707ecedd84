// Commands, replies and events are JSON: users of Gateway get the JSON types with it.
@_exported import JSON
