export {
  MIXED_MAX_SHAPES,
  SHAPE_CLASSES,
  SHAPES_CHANNELS,
  SHAPES_GENERATOR_VERSION,
  SHAPES_MAX_RESOLUTION,
  SHAPES_MIN_RESOLUTION,
  type ShapeClass,
  type ShapesDials,
  type ShapesOptions,
  type ShapesOptionsInput,
  shapesOptionsSchema,
} from './options.ts';
export { generateShapes, renderShapes, type ShapesSplit, shapesDials } from './render.ts';
