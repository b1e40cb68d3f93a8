#!/bin/sh
# features/lxc/base_setup.sh
exit 0
