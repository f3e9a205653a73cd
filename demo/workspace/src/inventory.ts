/** One product line kept in stock. */
export interface Item {
    sku: string;
    name: string;
    quantity: number;
    unitPrice: number;
    reorderLevel: number;
}

/** The items of a small shop's stock, by SKU. */
export class Inventory {
    private readonly items = new Map<string, Item>();

    /** Adds units of an item, creating it the first time its SKU is seen. */
    add(item: Item): void {
        const existing = this.items.get(item.sku);
        if (existing) existing.quantity += item.quantity;
        else this.items.set(item.sku, { ...item });
    }

    /** Takes units out of stock; refuses to go below zero. */
    remove(sku: string, quantity: number): void {
        const item = this.items.get(sku);
        if (!item || item.quantity < quantity) throw new Error(`not enough ${sku} in stock`);
        item.quantity -= quantity;
    }

    /** The total worth of everything in stock, at unit prices. */
    totalValue(): number {
        let total = 0;
        for (const item of this.items.values()) total += item.quantity * item.unitPrice;
        return total;
    }

    /** The items that are running low: at or below their reorder level. */
    needingReorder(): Item[] {
        return [...this.items.values()].filter((item) => item.quantity <= item.reorderLevel);
    }
}
