import L from 'leaflet';

/**
 * A basemap drawn in the browser, so the map works offline and without a tile server: each
 * tile is a canvas with a light background, grid lines and the latitude/longitude of its
 * north-west corner.
 */
export function createGridLayer(): L.GridLayer {
  const Grid = L.GridLayer.extend({
    createTile(this: L.GridLayer, coords: L.Coords): HTMLCanvasElement {
      const size = this.getTileSize();
      const canvas = document.createElement('canvas');
      canvas.width = size.x;
      canvas.height = size.y;
      const context = canvas.getContext('2d');
      if (context === null) return canvas;
      context.fillStyle = '#f3f1ea';
      context.fillRect(0, 0, size.x, size.y);
      // Finer lines every quarter tile, a stronger line on the tile's edge.
      context.strokeStyle = '#e2ded2';
      context.lineWidth = 1;
      for (let i = 1; i < 4; i++) {
        const offset = Math.round((size.x * i) / 4) + 0.5;
        context.beginPath();
        context.moveTo(offset, 0);
        context.lineTo(offset, size.y);
        context.moveTo(0, offset);
        context.lineTo(size.x, offset);
        context.stroke();
      }
      context.strokeStyle = '#c9c3b1';
      context.strokeRect(0.5, 0.5, size.x, size.y);
      const map = (this as unknown as { _map: L.Map })._map;
      const corner = map.unproject(L.point(coords.x * size.x, coords.y * size.y), coords.z);
      context.fillStyle = '#8d8674';
      context.font = '11px system-ui, sans-serif';
      context.fillText(`${corner.lat.toFixed(3)}, ${corner.lng.toFixed(3)}`, 6, 16);
      return canvas;
    },
  });
  return new (Grid as unknown as new (options: L.GridLayerOptions) => L.GridLayer)({
    attribution: 'grid basemap (no tiles)',
    className: 'grid-basemap',
  });
}
