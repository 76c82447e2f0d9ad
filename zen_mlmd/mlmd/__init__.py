"""The one layer of zen_mlmd that speaks MLMD protos (see store.py, writer.py, reader.py)."""
import os

# MLMD's C++ code logs through glog to stderr: an ERROR line for every failed
# connection, and a warning that logging was not initialised. zen_mlmd reports
# those failures itself, with their cause; GLOG_minloglevel=0 brings the log back.
os.environ.setdefault("GLOG_minloglevel", "3")
