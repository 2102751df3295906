"""Video dreams: clips decoded with PyAV, dreamt frame by frame without flicker (each frame
continues the previous dream, warped by optical flow), encoded with their sound."""
