export interface Point {
    x: number;
    y: number;
}

export function distance(a: Point, b: Point): number {
    const dx = a.x - b.x;
    const dy = a.y - b.y;
    return Math.sqrt(dx * dx + dy * dy);
}

export function centroid(points: Point[]): Point {
    const sum = points.reduce((acc, p) => ({ x: acc.x + p.x, y: acc.y + p.y }), { x: 0, y: 0 });
    return { x: sum.x / points.length, y: sum.y / points.length };
}

export function perimeter(polygon: Point[]): number {
    let total = 0;
    for (let i = 0; i < polygon.length; i++) {
        total += distance(polygon[i], polygon[(i + 1) % polygon.length]);
    }
    return total;
}
