"""The dashboard's engine side (no widgets): the event buffer, the controller over the watch loop, replay."""
