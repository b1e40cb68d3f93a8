#!/bin/sh
# only its existence matters here
