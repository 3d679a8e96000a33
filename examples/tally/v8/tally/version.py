"""The release this code belongs to, shown by /up so a deploy can be watched."""

VERSION = "v8"
