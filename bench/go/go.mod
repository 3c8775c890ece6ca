module svcbench

go 1.21

require svc v0.0.0

replace svc => ../../go
