"""The image side: profiles, views of an image, work features, indexes, screening."""
