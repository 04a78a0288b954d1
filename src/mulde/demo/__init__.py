"""Built-in demos: `scene` writes a small synthetic surveillance data set with known anomalies
(the default input of `mulde demo`); `toy` is the authors' 2-D example."""
