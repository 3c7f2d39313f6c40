# cen in a container: the same `make setup` as on a robot or CI machine, so the image cannot drift from them.
#   docker build -t cen .                         (CPU ONNX Runtime)
#   docker build --build-arg GPU=1 -t cen:gpu .   (CUDA 13 build of ONNX Runtime; run with --gpus all. The image
#                                                  has no CUDA 13/cuDNN 9 libraries: without them it runs on the CPU)
#   docker run --net=host -e ROS_MASTER_URI=http://ROBOT:11311 -e ROS_IP=THIS_HOST_IP -v $PWD/models:/models \
#     cen node --model /models/synthetic-lite-r18.onnx rgb/image:=/camera/color/image_raw \
#     depth/image:=/camera/aligned_depth_to_color/image_raw rgb/camera_info:=/camera/color/camera_info \
#     depth/camera_info:=/camera/aligned_depth_to_color/camera_info
# The node takes every parameter as a flag (cen node -h) and its inputs as ROS remappings; the launch files work
# too (ROS_PACKAGE_PATH is set): --entrypoint roslaunch cen cen_ros realsense.launch model:=/models/m.onnx
FROM debian:12 AS build
ARG GPU=0
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl make git \
    && rm -rf /var/lib/apt/lists/*
# Go is not in Debian 12 at the version cen needs; the official toolchain is expected at /usr/local/go.
COPY --from=golang:1.26-bookworm /usr/local/go /usr/local/go
ENV PATH=$PATH:/usr/local/go/bin
WORKDIR /src/cen
COPY . .
RUN make setup GPU=$GPU && make build

FROM build AS runtime
# The runtime stage keeps the set-up's libraries (OpenCV, OpenBLAS, ONNX Runtime) and the ROS tools.
WORKDIR /src/cen
ENV ROS_PACKAGE_PATH=/src/cen
ENTRYPOINT ["/src/cen/bin/cen"]
CMD ["node"]
