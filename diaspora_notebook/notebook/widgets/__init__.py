"""ipywidgets views (skins over plain state objects); ipywidgets is imported lazily."""
