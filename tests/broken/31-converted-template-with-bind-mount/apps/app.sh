#!/bin/sh
# apps/app.sh
exit 0
