-- Metmos Engine: the pre-defined listing categories (GET /categories).
--
-- Fixed uuids: the app and its saved requests refer to categories by uuid, so a
-- category's uuid never changes. 49f72173-9c44-427c-80d6-9f7f8a65116f (SERVICE, Home
-- Improvement) is the one the original Listing API Postman requests use.
--
-- The in-memory store reads this very file (adapters/store/memory/market.rs), one
-- category per line in the form below, so both stores serve the same list: keep one
-- tuple per line. The fixed timestamps keep the two identical too.
INSERT INTO category (uuid, category_type, name, description) VALUES
    ('3b2b61e1-5745-46eb-8713-7dacb71b0375', 'ITEM', 'Electronics', 'TVs, audio, cameras and other electronics'),
    ('dadd53dc-edfe-4a66-8182-a991aad41317', 'ITEM', 'Computers & Tablets', 'Laptops, desktops, tablets and accessories'),
    ('c3b1582f-e7c0-4293-b1e5-84363eee8c10', 'ITEM', 'Phones & Accessories', 'Mobile phones, cases, chargers'),
    ('77741ec3-0600-44e7-8c7a-4be6d927844f', 'ITEM', 'Furniture', 'Sofas, tables, beds, storage'),
    ('db9b2670-4447-4ae5-89f7-c06cdba92f44', 'ITEM', 'Home & Kitchen', 'Homewares, kitchenware, decor'),
    ('7bb25dd3-dde5-4bb9-8ec1-5f355e3e7bd0', 'ITEM', 'Appliances', 'Fridges, washing machines, small appliances'),
    ('140e5341-7401-420f-bcb3-36a0bb8c0a1f', 'ITEM', 'Clothing & Accessories', 'Clothes, shoes, bags, jewellery'),
    ('299fee00-e48e-4bee-acc2-5f02e6c16d7a', 'ITEM', 'Baby & Kids', 'Prams, cots, toys, kids'' clothing'),
    ('8d089ec4-bc95-4651-b2bd-af7626db2687', 'ITEM', 'Sports & Outdoors', 'Bikes, fitness, camping and sports gear'),
    ('de13cda4-e32d-473b-8f9d-4299e7f5be3a', 'ITEM', 'Books & Media', 'Books, music, movies, games'),
    ('8734d237-f9d4-4f26-8c93-b2a39b879090', 'ITEM', 'Musical Instruments', 'Guitars, keyboards, audio gear'),
    ('a6945f7e-e47f-4d63-af18-90412ab7c237', 'ITEM', 'Toys & Games', 'Toys, board games, video games'),
    ('d87ed7ed-8df3-46e4-b0fd-99597133f7c4', 'ITEM', 'Vehicles & Parts', 'Cars, motorbikes, parts and accessories'),
    ('f72cdb04-dbe7-4499-99f9-027ea143d357', 'ITEM', 'Tools & DIY', 'Power tools, hand tools, building supplies'),
    ('3fc23573-3464-4825-9846-430c13c080cb', 'ITEM', 'Garden', 'Plants, garden furniture, outdoor tools'),
    ('2dc40fcc-24bb-4edc-afda-dc5784c9f597', 'ITEM', 'Collectibles & Art', 'Art, antiques, collectibles'),
    ('f68be322-456b-493f-b8ee-955054f55d40', 'ITEM', 'Pet Supplies', 'Pet food, beds, cages, accessories'),
    ('6dc1c1cc-d6dc-4b91-baca-102a6104ebf2', 'ITEM', 'Other', 'Anything else'),
    ('49f72173-9c44-427c-80d6-9f7f8a65116f', 'SERVICE', 'Home Improvement', 'Painting, repairs, renovation, handyman'),
    ('07454af6-3bee-4d7b-be2a-cc3c6589eb21', 'SERVICE', 'Cleaning', 'House, office and end-of-lease cleaning'),
    ('46e0a947-3f58-421c-809a-6b6cd2e6b220', 'SERVICE', 'Gardening & Landscaping', 'Lawn mowing, landscaping, tree care'),
    ('3f05d288-5088-46c4-90a5-3cd270819eae', 'SERVICE', 'Moving & Delivery', 'Removals, courier, pick-up and delivery'),
    ('9ffea1ce-b49d-492d-ba82-d3f9847da3cd', 'SERVICE', 'Tutoring & Lessons', 'Academic tutoring, music and language lessons'),
    ('2f79b0e6-f145-4236-a37a-8c4eb715a685', 'SERVICE', 'IT & Tech Support', 'Computer repair, setup, software help'),
    ('0610ed10-955a-4ae5-9ae8-4bc91adb6a38', 'SERVICE', 'Design & Creative', 'Graphic design, video, web design'),
    ('eef3f0cf-5531-4c7d-98a9-892c849912a6', 'SERVICE', 'Writing & Translation', 'Copywriting, editing, translation'),
    ('7a9ae13b-dfd4-4500-8f71-0f7b2c8f9978', 'SERVICE', 'Beauty & Wellness', 'Hair, makeup, massage, fitness training'),
    ('6085a688-3df9-49fa-bb74-140539b5eeec', 'SERVICE', 'Events & Photography', 'Photography, catering, entertainment'),
    ('c1287135-c490-490a-9628-7f7e4bb6df80', 'SERVICE', 'Pet Care', 'Dog walking, pet sitting, grooming'),
    ('9b595ac8-e53c-4f7f-9f60-48240a0554d8', 'SERVICE', 'Childcare', 'Babysitting, nannies'),
    ('0a045cfd-3c33-403a-b55d-751099c88c0e', 'SERVICE', 'Automotive Services', 'Mechanics, detailing, car wash'),
    ('ba7e7975-268d-4f0e-934b-3daa4d875edd', 'SERVICE', 'Other', 'Any other service');

-- ids, and so GET /categories, follow the order above.
UPDATE category SET created_at = TIMESTAMPTZ '2024-01-01 00:00:00+00',
                    updated_at = TIMESTAMPTZ '2024-01-01 00:00:00+00';
